from mloop.cli.app import run

run()
