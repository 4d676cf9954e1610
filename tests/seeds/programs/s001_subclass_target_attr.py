# Source: seeds/001_367be50caf645ee7.txt, section "2、用类的方式开启进程" (third example,
#   passing a function as `target` to a subclass that stores it as self.target)
# Demonstrates: super(MyProcess, self).__init__() in a subclass; a plain instance
#   attribute `self.target` (not Process's own target handling) called from run().
# Expected output: one "父进程: <pid>" line (parent), and from the child, in this
#   order, "i am target func" then "子进程: <cpid> <ppid>" with <ppid> == <pid>.
#   Parent vs child order is not guaranteed.
# Fixes from the web page: joined source lines split again ("from multiprocessing
#   import Process def func():", "print(...) class MyProcess(Process):",
#   "self.target = target def run(self):", "print(...) if __name__ == '__main__':"),
#   indentation restored; the "# 结果" comment after the last line introduces the
#   tutorial's sample output and was dropped.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import os
from mproc import Process
def func():
    print("i am target func")
class MyProcess(Process): # 定义一个类,继承Process类
    def __init__(self, target):
        super(MyProcess, self).__init__() # 实现父类的初始化方法
        self.target = target
    def run(self): # 必须实现的方法,是启动进程的方法
        self.target()
        print('子进程:', os.getpid(), os.getppid())
if __name__ == '__main__':
    p = MyProcess(target=func) # 实例化
    p.start() # 自动调用run方法
    print('父进程:', os.getpid())
