# Source: seeds/001_367be50caf645ee7.txt, section "二、锁 Lock / 1、异步的问题" (抢票系统, without a lock)
# Demonstrates: five processes racing on a shared JSON file without any lock.
# !! Needs a file named `ticket` in the current directory containing {"count":3}
#   (the tutorial says so; the program does not create it). The harness must run
#   it in a scratch directory with that file (catalog: files). The file is modified.
# Expected output: exactly one "personN查询余票: <count>" line and exactly one
#   outcome line ("personN买到票了" or "personN没买到票") for each N in 0..4.
#   At least 3 people get a ticket; usually all 5 do (overselling, the tutorial's
#   point), but how many is a race.
# Fixes from the web page: joined source lines split again ("...数据写入错乱 import
#   time", "print(...) def get_ticket(person):", "print(...) def ticket(person):",
#   "get_ticket(person) if __name__ == '__main__':"), trailing "结果:" dropped,
#   indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
#文件ticket的内容为:{"count":3}
#注意一定要用双引号,不然json无法识别
#并发运行,效率高,但竞争写同一文件,数据写入错乱
import time
import json
from mproc import Process
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
def ticket(person):
    search(person)
    get_ticket(person)
if __name__ == '__main__':
    for i in range(5):
        p = Process(target=ticket,args=('person%s'%i,))
        p.start()
