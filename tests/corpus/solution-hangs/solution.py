from pyinfra.operations import server
server.shell(name="hang", commands=["sleep 600"])
