# Source: seeds/002_c779d389d5a1b008.txt, section "守护进程"
# Demonstrates: daemon=True passed as a constructor keyword; at the end of the main
#   code, daemonic children are terminated while the non-daemon one is waited for.
# Expected output: "p1 start" and "p1 end" exactly once each (non-daemon, 1 s);
#   "p2 end" and "p3 end" never appear (the daemons sleep 2 s and are terminated
#   as soon as the main code ends - with the stdlib even before p1 has finished;
#   the tutorial's prose "其依旧在执行中,直到执行完成" is not what happens);
#   "p2 start"/"p3 start" appear at most once each (lost unflushed when stdout
#   is a pipe, since the daemons are killed).
# Fixes from the web page: none.
# Only intended semantic change: `import multiprocessing` -> `import mproc as multiprocessing`.
import mproc as multiprocessing
import time
def worker():
    print(multiprocessing.current_process().name, "start")
    time.sleep(1)
    print(multiprocessing.current_process().name, "end")
def worker2():
    print(multiprocessing.current_process().name, "start")
    time.sleep(2)
    print(multiprocessing.current_process().name, "end")
if __name__ == "__main__":
    p1 = multiprocessing.Process(name='p1', target=worker)
    p2 = multiprocessing.Process(name='p2', target=worker2, daemon=True)
    p3 = multiprocessing.Process(name='p3', target=worker2, daemon=True)
    p1.start()
    p2.start()
    p3.start()
