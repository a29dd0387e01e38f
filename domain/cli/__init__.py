"""The `rota` command line: an entry point of the domain layer (it never imports api/workers).

`main.py` parses the arguments and maps failures to exit codes; `files.py` reads and writes
the files; `render.py` turns rosters and results into text; `bench.py` runs benchmarks.
"""
