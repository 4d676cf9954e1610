# Source: seeds/001_367be50caf645ee7.txt, section "3、守护进程 / 3,守护进程的作用" (报活)
# Demonstrates: a "keep-alive reporter" daemon looping forever; the main code ends
#   at once, so the daemon is terminated right away.
# Expected output: exactly "主进程"; "我还活着" never appears. Finishes immediately
#   (the 3600 s sleep is never completed, so it was left unchanged).
# Fixes from the web page: joined source lines split again ("print('我还活着') # ...
#   if __name__ == '__main__':", "print('主进程') 4、terminate:关闭进程" - the next
#   section's title was dropped), indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import time
from mproc import Process
def Guard():
    while True:
        time.sleep(3600)
        print('我还活着') # 向某个机器汇报我还活着,具体该怎么写汇报的逻辑就怎么写,这里只是示范
if __name__ == '__main__':
    p = Process(target=Guard)
    p.daemon = True
    p.start()
    # 主进程的逻辑(主进程应该是一直运行的,不应该有代码结束的时候)
    print('主进程')
