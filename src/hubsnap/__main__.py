from hubsnap.cli import main

main()
