# Shortcuts for dev.sh (which needs only Python 3.11 and pip).
.PHONY: demo test reproduce bench

demo:
	bash dev.sh demo

test:
	bash dev.sh test

reproduce:
	bash dev.sh reproduce

bench:
	bash dev.sh bench
