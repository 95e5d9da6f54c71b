# Run by krait (src/recipe/jinja/setup_py.rs) as `python -c <this> setup.py`: runs setup.py
# with setup() captured, like conda-build's load_setup_py_data.py, and prints its keywords as JSON;
# a stub setuptools stands in when the interpreter has none.
import json, os, sys, types
path = os.path.abspath(sys.argv[1])
captured = {}
def setup(**kwargs):
    captured.update(kwargs)
def find_packages(*args, **kwargs):
    return []
try:
    import setuptools
    setuptools.setup = setup
except ImportError:
    sys.modules["setuptools"] = types.ModuleType("setuptools")
    sys.modules["setuptools"].setup = setup
    sys.modules["setuptools"].find_packages = find_packages
try:
    import distutils.core
    distutils.core.setup = setup
except ImportError:
    pass
os.chdir(os.path.dirname(path))
sys.path.insert(0, os.getcwd())
sys.argv = [path]
exec(compile(open(path).read(), path, "exec"), {"__file__": path, "__name__": "__main__"})
def clean(v):
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [clean(x) for x in v]
    return str(v)
print(json.dumps(clean(captured)))
