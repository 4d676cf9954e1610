# Source: seeds/001_367be50caf645ee7.txt, section "3、守护进程 / 1,守护进程会在主进程代码执行结束后就终止"
# Demonstrates: p.daemon = True set before start(); a daemon child is terminated
#   when the main program's code ends.
# Expected output: "主进程" exactly once (parent, after 2 s); "子进程end" never
#   appears (the daemon sleeps 3 s and is terminated at ~2 s); "子进程 start" appears
#   at most once (it is lost when stdout is a pipe, since the terminated child never
#   flushes its buffer; it appears with PYTHONUNBUFFERED=1 or on a terminal).
# Fixes from the web page: joined source lines split again ("from multiprocessing
#   import Process def func():", "print('子进程end') if __name__ == '__main__':"),
#   indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import time
from mproc import Process
def func():
    print('子进程 start')
    time.sleep(3) # 睡3秒的时候主进程的代码已经执行完毕了,所以子进程也会跟着结束
    print('子进程end')
if __name__ == '__main__':
    p = Process(target=func)
    p.daemon = True # daemon是Process的属性
    p.start()
    time.sleep(2) # 睡2秒的时候,执行了子进程
    print('主进程')
