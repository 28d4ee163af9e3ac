"""The command line edge: parse, open the workspace, call one service, render."""
