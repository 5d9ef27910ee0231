#pragma once
int close(int fd);
