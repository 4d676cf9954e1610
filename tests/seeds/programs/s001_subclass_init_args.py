# Source: seeds/001_367be50caf645ee7.txt, section "2、用类的方式开启进程 / 给自定义类传参"
# Demonstrates: a Process subclass with its own __init__ calling super().__init__()
#   and storing a parameter; ten such processes started then joined.
# Expected output: exactly one "子进程: N <cpid> <ppid>" line for each N in 0..9
#   (any order), every <ppid> equal to the parent's pid, then
#   "主进程: <pid>" as the last line.
# Fixes from the web page: joined source lines split again ("from multiprocessing
#   import Process class MyProcess(Process):", "self.index = i # 定义自己的属性(参数)
#   def run(self):", "print(...) if __name__ == '__main__':"), indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import time
import os
from mproc import Process
class MyProcess(Process):
    def __init__(self,i):
        super().__init__() # 实现父类的初始化方法
        self.index = i # 定义自己的属性(参数)
    def run(self):
        time.sleep(1)
        print('子进程:',self.index,os.getpid(),os.getppid())
if __name__ == '__main__':
    p_lst = []
    for i in range(10):
        p = MyProcess(i)
        p.start()
        p_lst.append(p)
    for p in p_lst:
        p.join()
    print('主进程:',os.getpid())
