print("kvbench: not yet built")
