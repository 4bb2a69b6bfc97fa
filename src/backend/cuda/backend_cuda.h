/* C-callable helpers of the CUDA backend (the backend itself is cuda_backend_ops in backend.h). */
#ifndef KR_BACKEND_CUDA_H
#define KR_BACKEND_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when a CUDA device can be used; 0 otherwise, with the reason left in kr_last_error(). */
int cuda_device_available(void);
/* Name of device 0 ("" when none), for logs and benchmark tables. */
const char *cuda_device_name(void);

#ifdef __cplusplus
}
#endif

#endif
