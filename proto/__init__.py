"""mgqe.proto"""
