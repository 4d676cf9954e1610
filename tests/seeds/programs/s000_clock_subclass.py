# Source: seeds/000_56b8b8aaed7f1a63.txt, section "使用类创建进程" (subclassing Process)
# Demonstrates: a multiprocessing.Process subclass calling
#   multiprocessing.Process.__init__(self) explicitly and overriding run().
#   No `if __name__ == "__main__"` guard in the tutorial (kept: relies on fork).
# Expected output: exactly 5 "the time is <ctime>" lines (from the child; the
#   parent does not join, the interpreter waits for the non-daemon child at exit).
# Fixes from the web page: indentation restored (the page flattened it).
# Shortened: ClockProcess(3) -> ClockProcess(0.3) (the interval is a sleep duration).
# Only intended semantic change: `import multiprocessing` -> `import mproc as multiprocessing`.
import time
import mproc as multiprocessing
class ClockProcess(multiprocessing.Process):
    def __init__(self, interval):
        multiprocessing.Process.__init__(self)
        self.interval = interval
    def run(self):
        n = 5
        while n > 0:
            print("the time is {0}".format(time.ctime()))
            time.sleep(self.interval)
            n -= 1
p = ClockProcess(0.3)
p.start()
