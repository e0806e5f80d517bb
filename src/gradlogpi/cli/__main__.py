from gradlogpi.cli.app import main

main()
