"""Kill this script while it waits (Ctrl-C or kill -9), run the same command again: it resumes.

durable-python run scripts/examples/hello_durable.py
"""

import random
import time
import uuid

run_id = uuid.uuid4()
print(f"run {run_id} started at {time.strftime('%H:%M:%S')}")
for step in range(1, 6):
    print(f"step {step}: rolled {random.randint(1, 6)}")
    time.sleep(1)
print("done: each step ran once, however many times you restarted me")
