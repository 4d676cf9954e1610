# Source: seeds/001_367be50caf645ee7.txt, section "一、Process / 1、join" (发送十封邮件)
# Demonstrates: start ten processes first, then join() them all.
# Expected output: exactly one "第N封邮件发送完毕" line for each N in 0..9 (any
#   order), then "10封邮件全部发送完毕" as the last line (parent, after all joins).
# Fixes from the web page: source lines joined by the page were split again
#   ("from multiprocessing import Process def func(index):", "... %index) if
#   __name__ == '__main__':"), the next section's title glued after the last
#   print ("2、用类的方式开启进程") was dropped, indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
# 发送十封邮件
import time
import random
from mproc import Process
def func(index):
    time.sleep(random.randint(1,3))
    print('第%s封邮件发送完毕' %index)
if __name__ == '__main__':
    p_lst = []
    for i in range(10):
        p = Process(target=func,args=(i,))
        p.start() # 先让所有子进程都启动
        p_lst.append(p)
    for p in p_lst: # 再进行join阻塞
        p.join()
    print('10封邮件全部发送完毕')
