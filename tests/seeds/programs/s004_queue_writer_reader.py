# Source: seeds/004_01f132df61931760.txt, section "进程与多进程" (Queue between a
#   writer and a reader process)
# Demonstrates: a Queue created by the parent and passed to two children; the
#   writer put()s 'A','B','C'; the reader loops forever on q.get(True) and is
#   terminate()d by the parent once the writer has been joined.
# Expected output: "Process to write: <pid>" once and "Put A to queue...",
#   "Put B to queue...", "Put C to queue..." once each, in that order (writer).
#   The reader is terminated, so its lines ("Process to read: <pid>",
#   "Get X from queue.") are lost when stdout is a pipe; when visible (e.g.
#   PYTHONUNBUFFERED=1) the values got are a prefix of A, B, C, each once.
# Fixes from the web page: the page's line-number gutter (1..31) dropped.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
from mproc import Process, Queue
import os, time, random

# 写数据进程执行的代码:
def write(q):
    print('Process to write: %s' % os.getpid())
    for value in ['A', 'B', 'C']:
        print('Put %s to queue...' % value)
        q.put(value)
        time.sleep(random.random())

# 读数据进程执行的代码:
def read(q):
    print('Process to read: %s' % os.getpid())
    while True:
        value = q.get(True)
        print('Get %s from queue.' % value)

if __name__=='__main__':
    # 父进程创建Queue,并传给各个子进程
    q = Queue()
    pw = Process(target=write, args=(q,))
    pr = Process(target=read, args=(q,))
    # 启动子进程pw,写入
    pw.start()
    # 启动子进程pr,读取
    pr.start()
    # 等待pw结束
    pw.join()
    # pr进程里是死循环,无法等待其结束,只能强行终止
    pr.terminate()
