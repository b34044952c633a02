from learnloop.cli import main

main()
