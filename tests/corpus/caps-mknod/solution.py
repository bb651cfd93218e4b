from pyinfra.operations import server
server.shell(name="noop", commands=["true"])
