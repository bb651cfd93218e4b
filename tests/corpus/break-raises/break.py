raise RuntimeError("the break script is broken")
