# Source: seeds/002_c779d389d5a1b008.txt, section "创建一个进程"
# Demonstrates: the simplest Process(target=worker) + start() under the
#   `if __name__=="__main__":` guard (no join: the interpreter waits for the
#   non-daemon child at exit).
# Expected output: exactly the three lines "0", "1", "2", in that order.
# Fixes from the web page: none.
# Only intended semantic change: `import multiprocessing` -> `import mproc as multiprocessing`.
import mproc as multiprocessing
def worker():
    for i in range(3):
        print(i)
if __name__=="__main__":
    p = multiprocessing.Process(target=worker)
    p.start()
