from durable_python.cli import console_main

console_main()
