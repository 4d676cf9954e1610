# Source: seeds/004_01f132df61931760.txt, section "分布式进程" (任务进程 / worker)
# Demonstrates: BaseManager.register(name) without a callable (client side),
#   BaseManager(address, authkey).connect() to a running server, and using the
#   remote queues through proxies (empty/get(timeout=1)/put).
#   Companion: s004_task_master.py, which must be started first (the worker just
#   drains whatever tasks are in the queue, then exits).
# Port: the tutorial's address is ('127.0.0.1', 5002). The port can be overridden
#   ONLY through the optional env var MPROC_SEED_PORT (default 5002), so tests can
#   pick a free port; this needed `import os`.
# Expected output (with the master running and 10 tasks queued): exactly 10
#   "run task N * N..." lines, same N values as the master's "Put task N..." lines,
#   in the same order. Without a server: "连接失败" and exit status 0
#   (sys.exit() with no argument).
# Fixes from the web page: the page's line-number gutter (1..31) dropped.
# Shortened: time.sleep(sleeptime) -> time.sleep(sleeptime / 10) (sleeptime is
#   random.randint(0, 3) s per task, up to ~30 s in total); the reported runtime
#   (the integer sleeptime) is unchanged.
# Only intended semantic change: `from multiprocessing.managers import` ->
#   `from mproc.managers import` (plus the MPROC_SEED_PORT override above).
import time, sys, random
import os
from mproc.managers import BaseManager

# 从网络上获取Queue,注册时只提供名字
BaseManager.register('get_task')
BaseManager.register('get_result')
# 连接到服务器,注意端口和验证码要保持一致
conn = BaseManager(address=('127.0.0.1', int(os.environ.get('MPROC_SEED_PORT', '5002'))), authkey=b'abc')

try:
    conn.connect()
except Exception:
    print('连接失败')
    sys.exit();

# 获取Queue的对象
task = conn.get_task()
result = conn.get_result()

# 从task队列取任务,并把结果写入result队列
while not task.empty():
    n = task.get(timeout=1)
    print('run task %d * %d...' % (n, n))
    r = '%d * %d = %d' % (n, n, n*n)
    sleeptime = random.randint(0, 3)
    time.sleep(sleeptime / 10)
    rt = (r, sleeptime)
    result.put(rt)

if __name__ == '__main__':
    pass
