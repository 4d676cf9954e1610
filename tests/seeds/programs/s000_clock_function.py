# Source: seeds/000_56b8b8aaed7f1a63.txt, section "0x01 进程基础 / Process / 创建进程"
# Demonstrates: Process(target=..., args=...), start(), and the pid / name /
#   is_alive() attributes read right after start(). No `if __name__ == "__main__"`
#   guard in the tutorial (kept as is: relies on the fork start method).
# Expected output: one "p.pid: <int>" line, exactly one "p.name: Process-1" line,
#   exactly one "p.is_alive: True" line, and exactly 5 "The time is <ctime>" lines
#   from the child (the parent does not join; the interpreter waits for the
#   non-daemon child at exit).
# Fixes from the web page: indentation restored (the page flattened it).
# Shortened: the interval passed to worker() was 3 (s); it is 0.3 here (5 x 0.3 s).
# Only intended semantic change: `import multiprocessing` -> `import mproc as multiprocessing`.
import time
import mproc as multiprocessing
def worker(interval):
    n = 5
    while n > 0:
        print("The time is {0}".format(time.ctime()))
        time.sleep(interval)
        n -= 1
p = multiprocessing.Process(target = worker, args = (0.3,))
p.start()
print("p.pid:", p.pid)
print("p.name:", p.name)
print("p.is_alive:", p.is_alive())
