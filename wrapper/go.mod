module overture.dev/wrapper

go 1.24
