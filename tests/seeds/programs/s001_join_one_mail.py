# Source: seeds/001_367be50caf645ee7.txt, section "一、Process / 1、join" (发送一封邮件)
# Demonstrates: p.join() blocks the parent until the child has finished.
# Expected output, in this order: "邮件已发送" (child, after 1-3 s) then
#   "邮件发送完毕" (parent, after join).
# Fixes from the web page: the page joined several source lines into one
#   ("from multiprocessing import Process def func():", "print('邮件已发送') if
#   __name__ == '__main__':", "print('邮件发送完毕') # 发送十封邮件" - the last
#   trailing comment is the next example's title and was dropped); lines split
#   again and indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
# 发送一封邮件
import time
import random
from mproc import Process
def func():
    time.sleep(random.randint(1,3)) # 模拟邮件发送的延迟
    print('邮件已发送')
if __name__ == '__main__':
    p = Process(target=func)
    p.start()
    p.join() # 阻塞 直到进程p执行完毕后才结束阻塞
    print('邮件发送完毕')
