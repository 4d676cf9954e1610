# Source: seeds/004_01f132df61931760.txt, section "分布式进程" (服务进程 / master)
# Demonstrates: BaseManager.register(name, callable=...) of two module-level
#   queue.Queue objects, BaseManager(address, authkey).start() (server process),
#   the auto-generated proxies (put/full/qsize/get) and manager.shutdown().
#   Companion: s004_task_worker.py, which connects by name and does the work.
# Port: the tutorial's address is ('127.0.0.1', 5002). The port can be overridden
#   ONLY through the optional env var MPROC_SEED_PORT (default 5002), so tests can
#   pick a free port; this needed `import os`.
# !! No timeout in the tutorial: the master polls `while not result.full():
#   time.sleep(1)`, i.e. it WAITS FOREVER until a worker has put 10 results. It was
#   left that way; the harness must start s004_task_worker.py after the master has
#   printed "Try get results..." and must put its own timeout on the master.
# Expected output: exactly 10 "Put task N..." lines (N in 0..10000), then
#   "Try get results...", then exactly 10 "Result: N * N = M, runtime: Ks" lines,
#   one per task put (same multiset of N; FIFO order with a single worker),
#   M == N*N, K in 0..3; never "Manager error".
# Fixes from the web page: the page's line-number gutter (1..51) dropped.
# Only intended semantic change: `from multiprocessing... import` ->
#   `from mproc... import` (plus the MPROC_SEED_PORT override above).
import random, time, queue
import os
from mproc.managers import BaseManager
from mproc import freeze_support

# 任务个数
task_number = 10
# 发送任务的队列
task_queue = queue.Queue(task_number)
# 接收任务的队列
result_queue = queue.Queue(task_number)

def gettask():
    return task_queue

def getresult():
    return result_queue

def test():
    # windows下绑定调用接口不能使用lambda,所以只能先定义函数再绑定
    BaseManager.register('get_task', callable=gettask)
    BaseManager.register('get_result', callable=getresult)
    # 绑定端口并设置验证码,windows下需要填写ip地址,linux下不填默认为本地
    manager = BaseManager(address=('127.0.0.1', int(os.environ.get('MPROC_SEED_PORT', '5002'))), authkey=b'abc')
    # 启动Queue
    manager.start()
    try:
        # 通过网络获取任务队列和结果队列
        task = manager.get_task()
        result = manager.get_result()
        # 添加任务
        for i in range(task_number):
            n = random.randint(0, 10000)
            print('Put task %d...' % n)
            task.put(n)
        # 每秒检测一次是否所有任务都被执行完
        print('Try get results...')
        while not result.full():
            time.sleep(1)
        for i in range(result.qsize()):
            ans = result.get()
            print('Result: %s, runtime: %ds' % ans)
    except Exception:
        print('Manager error')
    finally:
        # 一定要关闭,否则会爆管道未关闭的错误
        manager.shutdown()

if __name__ == '__main__':
    # windows下多进程可能会炸,添加这句可以缓解
    freeze_support()
    test()
