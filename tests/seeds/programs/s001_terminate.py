# Source: seeds/001_367be50caf645ee7.txt, section "4、terminate:关闭进程"
# Demonstrates: p.terminate() right after start(); is_alive() just after
#   terminate() may still be True, and is False 0.1 s later.
# Expected output (parent): two lines, the first "True" (usually; "False" is
#   allowed, as the tutorial says), the second "False". The child's "子进程"
#   appears at most once (it usually never runs that far, or is lost unflushed).
# Fixes from the web page: joined source lines split again ("print('子进程') if
#   __name__ == '__main__':", "print(p.is_alive()) # False 二、锁 Lock" - the next
#   section's title was dropped), indentation restored.
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import time
from mproc import Process
def fun():
    print('子进程')
if __name__ == '__main__':
    p = Process(target=fun)
    p.start()
    p.terminate() # 关闭进程,不会立即关闭,所以is_alive立刻查看的结果可能还是存活
    print(p.is_alive()) # True
    time.sleep(0.1)
    print(p.is_alive()) # False
