# Source: seeds/001_367be50caf645ee7.txt, section "二、锁 Lock / 2、用锁解决" (抢票系统 with Lock)
# Demonstrates: a multiprocessing Lock passed to five processes serialises the
#   read-modify-write of a shared JSON file.
# !! Needs a file named `ticket` in the current directory containing {"count":3}
#   (as in the previous example of the tutorial; the program does not create it).
#   The harness must run it in a scratch directory with that file (catalog: files).
#   The file is modified (ends as {"count": 0}).
# Expected output: exactly one "personN查询余票: <count>" line for each N in 0..4
#   (the query is outside the lock, so the counts shown vary), exactly 3
#   "personN买到票了" lines and exactly 2 "personN没买到票" lines, one outcome per person.
# Fixes from the web page: joined source lines split again ("# 保证了数据的安全 import
#   time", "print(...) def get_ticket(person):", "print(...) def ticket(person,lock):",
#   "p.start() 结果:" - "结果:" dropped), indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
# 加锁降低了程序的效率,让原来能够同时执行的代码变成顺序执行了,异步变同步的过程
# 保证了数据的安全
import time
import json
from mproc import Process
from mproc import Lock # 导入Lock类
def search(person):
    with open('ticket') as f:
        ticketinfo = json.load(f)
    print('%s查询余票:' %person,ticketinfo['count'])
def get_ticket(person):
    with open('ticket') as f:
        ticketinfo = json.load(f)
    time.sleep(0.2) #模拟读数据的网络延迟
    if ticketinfo['count'] > 0:
        print('%s买到票了'%person)
        ticketinfo['count'] -= 1
        time.sleep(0.2)
        with open('ticket','w') as f:
            json.dump(ticketinfo,f)
    else:
        print('%s没买到票'%person)
def ticket(person,lock):
    search(person)
    lock.acquire() # 谁获得钥匙 谁才能进入
    get_ticket(person)
    lock.release() # 用完了,把钥匙给下一个人
if __name__ == '__main__':
    lock = Lock() # 创建一个锁对象
    for i in range(5):
        p = Process(target=ticket,args=('person%s'%i,lock))
        p.start()
