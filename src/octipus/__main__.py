from octipus.cli import main

main()
