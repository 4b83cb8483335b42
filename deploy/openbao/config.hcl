# OpenBao of the compose stack (evaluation): one node, raft storage in the openbao-data volume.
storage "raft" {
  path    = "/openbao/file" # the image prepares this directory for its openbao user
  node_id = "openbao-compose"
  performance_multiplier = 1
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true # inside the compose network only; put TLS in front of anything real
}

api_addr     = "http://openbao:8200"
cluster_addr = "https://openbao:8201"
ui           = false
