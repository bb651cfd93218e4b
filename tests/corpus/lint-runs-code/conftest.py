import os
open(os.environ.get("LABS_CANARY", "/dev/null"), "a").write("conftest ran\n")
