from antibody_cli.cli import main

main()
