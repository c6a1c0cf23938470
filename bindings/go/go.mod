module github.com/nsmon/nsmon/bindings/go

go 1.19
