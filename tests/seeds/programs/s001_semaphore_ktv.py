# Source: seeds/001_367be50caf645ee7.txt, section "三、信号量 Semaphore" (唱吧)
# Demonstrates: Semaphore(2) shared by five processes: at most two are inside
#   the acquire()/release() section at once.
# Expected output: exactly one "personN走进唱吧" and one "personN走出唱吧" line for
#   each N in 0..4; within one process "走进" comes before "走出". (With
#   PYTHONUNBUFFERED=1 the real-time order also shows at most 2 people inside.)
# Fixes from the web page: joined source lines split again ("...lock只能有一把钥匙)
#   import time", "from multiprocessing import Semaphore def changba(person,sem):",
#   "sem.release() # ... if __name__ == '__main__':", "p.start() 四、事件 Event" -
#   the next section's title dropped), indentation restored.
# Shortened: time.sleep(random.randint(3,6)) -> time.sleep(random.randint(3,6) / 10)
#   (was up to ~18 s in total).
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import time
import random
from mproc import Process
from mproc import Semaphore
def changba(person,sem): # 在唱吧 唱歌
    sem.acquire() # 第一次可以同时进来两个人
    print('%s走进唱吧' %person)
    time.sleep(random.randint(3,6) / 10) # 每个人唱歌的时间
    print('%s走出唱吧' % person) # 唱完走人
    sem.release() # 把钥匙给下一个人
if __name__ == '__main__':
    sem = Semaphore(2) # 2把钥匙
    for i in range(5):
        p = Process(target=changba,args=('person%s' %i,sem))
        p.start()
