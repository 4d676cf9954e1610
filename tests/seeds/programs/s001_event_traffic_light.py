# Source: seeds/001_367be50caf645ee7.txt, section "四、事件 Event" (红绿灯)
# Demonstrates: an Event shared by a daemon "traffic light" process (set()/clear()
#   every period, is_set()) and ten "car" processes that wait() for green.
# Expected output: exactly one "car N 通过了" line for each N in 0..9; at most one
#   "car N在等待" line per car. The light's lines (ANSI-coloured "红灯亮"/"绿灯亮")
#   come from a daemon that is terminated at exit, so they are lost when stdout is
#   a pipe and only show with PYTHONUNBUFFERED=1 or on a terminal.
# Fixes from the web page: joined source lines split again ("from multiprocessing
#   import Event def traffic_ligth(e):", "e.clear() # 设置为False else: # 如果是红灯",
#   "e.set() # 设置为True def car(e,i):", "print(...) if __name__ == '__main__':"),
#   indentation restored.
# Shortened: the light's time.sleep(2) -> time.sleep(0.2) (both branches) and the
#   delay between cars time.sleep(random.randrange(0,3,2)) ->
#   time.sleep(random.randrange(0,3,2) / 10) (was up to 20 s).
# Only intended semantic change: `from multiprocessing import ...` -> `from mproc import ...`.
import time
import random
from mproc import Process
from mproc import Event
def traffic_ligth(e): # 红绿灯
    print('\033[31m红灯亮\033[0m') # Flag 默认是False
    while True:
        if e.is_set(): # 如果是绿灯
            time.sleep(0.2) # 2秒后
            print('\033[31m红灯亮\033[0m') # 转为红灯
            e.clear() # 设置为False
        else: # 如果是红灯
            time.sleep(0.2) # 2秒后
            print('\033[32m绿灯亮\033[0m') # 转为绿灯
            e.set() # 设置为True
def car(e,i): # 车
    if not e.is_set():
        print('car %s在等待' %i)
        e.wait()
    print('car %s 通过了'%i)
if __name__ == '__main__':
    e = Event()
    p = Process(target=traffic_ligth,args=(e,)) # 红绿灯进程
    p.daemon = True
    p.start()
    p_lst = []
    for i in range(10): # 10辆车的进程
        time.sleep(random.randrange(0,3,2) / 10)
        p = Process(target=car,args=(e,i))
        p.start()
        p_lst.append(p)
    for p in p_lst:p.join()
