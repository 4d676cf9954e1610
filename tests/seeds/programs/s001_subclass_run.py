# Source: seeds/001_367be50caf645ee7.txt, section "2、用类的方式开启进程" (first example)
# Demonstrates: subclassing Process and overriding run(); start() calls run() in
#   the child; os.getpid()/os.getppid() in the child.
# Expected output: one "父进程: <pid>" line and one "子进程: <cpid> <ppid>" line
#   (order not guaranteed), with <ppid> == <pid> and <cpid> != <pid>.
# Fixes from the web page: joined source lines split again ("from multiprocessing
#   import Process class MyProcess(Process):", "print(...) if __name__ ==
#   '__main__':"), trailing prose "给自定义类传参:" dropped, indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import os
from mproc import Process
class MyProcess(Process): # 定义一个类,继承Process类
    def run(self): # 必须实现的方法,是启动进程的方法
        print('子进程:',os.getpid(),os.getppid())
if __name__ == '__main__':
    p = MyProcess() # 实例化
    p.start() # 自动调用run方法
    print('父进程:',os.getpid())
