import os
import sys

# The build environment's own interpreter runs this, not the system's.
here, build = os.path.realpath(sys.prefix), os.path.realpath(os.environ["BUILD_PREFIX"])
assert here == build, (here, build)
folder = os.path.join(os.environ["PREFIX"], "share", "scripted")
os.makedirs(folder, exist_ok=True)
with open(os.path.join(folder, "py.txt"), "w") as out:
    out.write("py\n")
