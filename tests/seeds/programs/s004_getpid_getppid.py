# Source: seeds/004_01f132df61931760.txt, section "进程与多进程" (first example, run_proc)
# Demonstrates: start a child, os.getpid()/os.getppid() in it, join() it.
# Expected output, exactly these 4 lines in this order:
#   "Parent process <P>.", "Child process will start.",
#   "Run child process test (<C>) and parent process is (<P>).", "Child process end."
#   with <C> != <P> and the same <P> twice. (The order holds even when stdout is a
#   pipe because the stdlib flushes the parent's stdio before starting a child.)
# Fixes from the web page: the page's line-number gutter (1..14) dropped.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
from mproc import Process
import os

# 子进程要执行的代码
def run_proc(name):
    print('Run child process %s (%s) and parent process is (%s).' % (name, os.getpid(), os.getppid()))

if __name__=='__main__':
    print('Parent process %s.' % os.getpid())
    p = Process(target=run_proc, args=('test',))
    print('Child process will start.')
    p.start()
    p.join()
    print('Child process end.')
