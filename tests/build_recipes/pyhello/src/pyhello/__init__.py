import sys


def main():
    print("pyhello on", sys.prefix)
