# Source: seeds/001_367be50caf645ee7.txt, section "3、守护进程 / 2,守护进程会在主进程代码执行结束后就终止,但是父进程会等待子进程结束才正式结束"
# Demonstrates: a daemon child (infinite loop) is terminated when the main code
#   ends, while the parent still waits for a non-daemon child at exit.
# Expected output: "主进程" once (parent, at ~3 s); "普通进程开始" and "普通进程结束"
#   once each (non-daemon child, runs 5 s, the program ends after it); the daemon's
#   lines "*", "**", "***", ... (one per second, until terminated at ~3 s) are lost
#   when stdout is a pipe (the terminated daemon never flushes); with
#   PYTHONUNBUFFERED=1 they are "*" * k for k = 1..n, n about 3 (2 to 4).
# Fixes from the web page: joined source lines split again (
#   "count += 1 def func2():", "print('普通进程结束') if
#   __name__ == '__main__':", "p1.start() Process(target=func2).start()"), trailing
#   "结果:" dropped, indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import time
from mproc import Process
def func():
    count = 1
    while True:
        print('*' * count)
        time.sleep(1)
        count += 1
def func2():
    print('普通进程开始')
    time.sleep(5)
    print('普通进程结束')
if __name__ == '__main__':
    p1 = Process(target=func)
    p1.daemon = True
    p1.start()
    Process(target=func2).start()
    time.sleep(3)
    print('主进程')
