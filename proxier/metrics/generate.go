package metrics

//go:generate go run ./internal/familylist testdata/kube-proxy-families.txt
