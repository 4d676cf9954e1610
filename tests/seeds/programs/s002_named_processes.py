# Source: seeds/002_c779d389d5a1b008.txt, section "设置进程名"
# Demonstrates: Process(name=...) and multiprocessing.current_process().name
#   inside the child.
# Expected output: exactly one "pN start" and one "pN end" line for each of p1, p2,
#   p3 (order between processes not guaranteed; "start" before "end" within one).
#   Takes ~2 s.
# Fixes from the web page: none.
# Only intended semantic change: `import multiprocessing` -> `import mproc as multiprocessing`.
import mproc as multiprocessing
import time
def worker():
    print(multiprocessing.current_process().name, "start")
    time.sleep(2)
    print(multiprocessing.current_process().name, "end")
if __name__ == "__main__":
    p1 = multiprocessing.Process(name='p1', target=worker)
    p2 = multiprocessing.Process(name='p2', target=worker)
    p3 = multiprocessing.Process(name='p3', target=worker)
    p1.start()
    p2.start()
    p3.start()
