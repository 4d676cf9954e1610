# Source: seeds/004_01f132df61931760.txt, section "进程与多进程" (进程池, Pool(4))
# Demonstrates: Pool(4), apply_async() of 5 tasks (only 4 run at once), close(),
#   join().
# Expected output: "Parent process <P>." first; exactly one "Run task N (<pid>)..."
#   and one "Task N runs X.XX seconds." line for each N in 0..4 (0 <= X < ~3.5);
#   the worker pids are at most 4 distinct values, none equal to <P>;
#   "Waiting for all subprocesses done..." once, and "All subprocesses done." as
#   the last line. Takes up to ~6 s.
# Fixes from the web page: the page's line-number gutter (1..19) dropped.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
from mproc import Pool
import os, time, random

def long_time_task(name):
    print('Run task %s (%s)...' % (name, os.getpid()))
    start = time.time()
    time.sleep(random.random() * 3)
    end = time.time()
    print('Task %s runs %0.2f seconds.' % (name, (end - start)))

if __name__=='__main__':
    print('Parent process %s.' % os.getpid())
    p = Pool(4)
    for i in range(5):
        p.apply_async(long_time_task, args=(i,))
    print('Waiting for all subprocesses done...')
    p.close()
    p.join()
    print('All subprocesses done.')
