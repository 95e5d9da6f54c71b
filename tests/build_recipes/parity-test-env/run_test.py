import os
# get_test_deps put python here; environ.get_dict gave the variables.
assert os.environ["PKG_NAME"] == "parity-test-env", os.environ["PKG_NAME"]
print("run_test.py ran with", os.environ["PYTHON"])
