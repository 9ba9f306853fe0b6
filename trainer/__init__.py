"""mgqe.trainer"""
