module bv-webhook-receiver

go 1.19
