from veolab.cli import main

main()
