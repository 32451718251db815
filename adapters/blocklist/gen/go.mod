module github.com/usermgmt/usermgmt/adapters/blocklist/gen

go 1.26.8

require github.com/trustelem/zxcvbn v1.0.1
